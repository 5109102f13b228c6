"""Bad input fails with the position named; amino acids map to H/P by Kyte-Doolittle; FASTA records."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.folding.exceptions import SequenceError
from apps.folding.search import new_state
from apps.folding.sequence import KYTE_DOOLITTLE, parse_fasta, parse_sequence, read_fasta, to_hp


def test_hp_string_is_kept() -> None:
    assert to_hp("hphp PH\n") == "HPHPPH"


def test_amino_acids_map_by_the_sign_of_kyte_doolittle() -> None:
    assert to_hp("IVLFCMA") == "HHHHHHH"
    assert to_hp("GTSWYPHEQDNKR") == "PPPPPPPPPPPPP"
    assert len(KYTE_DOOLITTLE) == 20
    assert to_hp("HPH", alphabet="protein") == "PPP"  # histidine and proline are polar


@pytest.mark.parametrize(
    ("letters", "needle"),
    [
        ("", "empty"),
        ("HP", "at least 3"),
        ("HPHXPH", "position 4: 'X'"),
        ("MKV*L", "position 4: '*'"),
    ],
)
def test_bad_sequences_name_the_problem(letters: str, needle: str) -> None:
    with pytest.raises(SequenceError, match=needle.replace("*", r"\*")):
        to_hp(letters)


def test_hp_alphabet_rejects_other_letters_by_position() -> None:
    with pytest.raises(SequenceError, match="position 3: 'A' is not H or P"):
        to_hp("HPAH", alphabet="hp")


def test_over_the_length_limit() -> None:
    with pytest.raises(SequenceError, match="over the length limit of 10 \\(residue 11 onwards\\)"):
        to_hp("H" * 11, max_length=10)


def test_unknown_alphabet() -> None:
    with pytest.raises(SequenceError, match="unknown alphabet"):
        to_hp("HPH", alphabet="dna")


def test_3d_length_limit() -> None:
    with pytest.raises(SequenceError, match="3D length limit of 125"):
        new_state("H" * 126, 3, 2)


def test_fasta_records_and_errors(tmp_path: Path) -> None:
    text = ">s1 first\nHPHP\nPHPH\n\n>s2\nMKVLA\n"
    seqs = parse_fasta(text)
    assert [(s.name, s.hp) for s in seqs] == [("s1", "HPHPPHPH"), ("s2", "HPHHH")]
    with pytest.raises(SequenceError, match=r"FASTA: s2: position 4: 'Z'.*\(line 5, column 2\)"):
        parse_fasta(">s1\nHPHP\n>s2\nMK\nVZ\n")
    with pytest.raises(SequenceError, match="line 1: sequence before the first"):
        parse_fasta("HPHP\n>s1\nHPH\n")
    with pytest.raises(SequenceError, match="record 'e' has no sequence"):
        parse_fasta(">e\n>f\nHPH\n")
    with pytest.raises(SequenceError, match="no FASTA record"):
        parse_fasta("\n\n")
    f = tmp_path / "x.fasta"
    f.write_text(text)
    assert len(read_fasta(f)) == 2
    with pytest.raises(SequenceError, match="cannot read the FASTA file"):
        read_fasta(tmp_path / "missing.fasta")


def test_parse_sequence_keeps_the_source() -> None:
    s = parse_sequence("mkvl", name="p")
    assert (s.name, s.hp, s.source, len(s)) == ("p", "HPHH", "MKVL", 4)


@pytest.mark.parametrize(("first", "second"), [("a", "a"), ("a/b", "a_b"), ("x y", "x z")])
def test_fasta_records_that_would_overwrite_each_others_files_are_refused(
    first: str, second: str
) -> None:
    # outputs are named after the record, so a repeated name would silently replace a fold;
    # "x y" and "x z" are both record "x" (the id is the header's first word)
    text = f">{first}\nHPPH\n>{second}\nHHHH\n"
    with pytest.raises(
        SequenceError, match=r"in\.fa: line 3: record .* same output name .*\(line 1\)"
    ):
        parse_fasta(text, origin="in.fa")
    assert [c.name for c in parse_fasta(">a\nHPPH\n>A\nHHHH\n>b c\nHPH\n")] == ["a", "A", "b"]
