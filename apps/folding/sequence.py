"""Input: HP strings, amino-acid sequences mapped to H/P, and FASTA files of several.

An amino-acid residue is hydrophobic (H) when its Kyte-Doolittle hydropathy index
is positive (Kyte & Doolittle 1982): I V L F C M A. Every other standard residue
(G T S W Y P H E Q D N K R) is polar (P). A sequence made only of the letters H
and P is read as an HP string unless ``alphabet="protein"`` says otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from apps.folding.exceptions import SequenceError

MIN_LENGTH = 3  # residues: shorter chains have no possible contact
# Kyte & Doolittle (1982) hydropathy index of the 20 standard amino acids
KYTE_DOOLITTLE: dict[str, float] = {
    "I": 4.5, "V": 4.2, "L": 3.8, "F": 2.8, "C": 2.5, "M": 1.9, "A": 1.8,
    "G": -0.4, "T": -0.7, "S": -0.8, "W": -0.9, "Y": -1.3, "P": -1.6, "H": -3.2,
    "E": -3.5, "Q": -3.5, "D": -3.5, "N": -3.5, "K": -3.9, "R": -4.5,
}  # fmt: skip


class Alphabet(StrEnum):
    """How the letters of a sequence are read."""

    AUTO = "auto"  # HP when only H and P occur, else protein
    HP = "hp"
    PROTEIN = "protein"


@dataclass(frozen=True, slots=True)
class Sequence:
    """One chain to fold.

    Attributes:
        name: a label (the FASTA id, or ``seq``).
        hp: the H/P string the lattice model folds.
        source: the letters as given (an amino-acid sequence or the HP string).
    """

    name: str
    hp: str
    source: str

    def __len__(self) -> int:
        return len(self.hp)


def to_hp(
    letters: str,
    *,
    alphabet: Alphabet | str = Alphabet.AUTO,
    max_length: int = 200,
    where: str = "sequence",
) -> str:
    """The HP string of ``letters`` (whitespace ignored, case-insensitive).

    Raises:
        SequenceError: empty, too short or too long, or a letter outside the
            alphabet; the message names the (1-based) position.
    """
    try:
        alpha = Alphabet(alphabet)
    except ValueError as err:
        raise SequenceError(
            f"{where}: unknown alphabet {alphabet!r} (auto, hp or protein)"
        ) from err
    text = "".join(letters.split()).upper()
    if not text:
        raise SequenceError(f"{where}: the sequence is empty")
    if len(text) < MIN_LENGTH:
        raise SequenceError(f"{where}: {len(text)} residues; a fold needs at least {MIN_LENGTH}")
    if len(text) > max_length:
        raise SequenceError(
            f"{where}: {len(text)} residues is over the length limit of {max_length} "
            f"(residue {max_length + 1} onwards)"
        )
    if alpha is Alphabet.AUTO:
        alpha = Alphabet.HP if set(text) <= {"H", "P"} else Alphabet.PROTEIN
    if alpha is Alphabet.HP:
        for k, c in enumerate(text, 1):
            if c not in "HP":
                raise SequenceError(f"{where}: position {k}: {c!r} is not H or P")
        return text
    out = []
    for k, c in enumerate(text, 1):
        kd = KYTE_DOOLITTLE.get(c)
        if kd is None:
            raise SequenceError(
                f"{where}: position {k}: {c!r} is not one of the 20 standard amino acids"
            )
        out.append("H" if kd > 0 else "P")
    return "".join(out)


NAME_LETTERS = 24  # a sequence up to this long is its own name


def sequence_name(letters: str) -> str:
    """The default name of a sequence given as letters: the letters themselves, or for a
    long one its first 16 and a hash of all (so two sequences never share output files)."""
    compact = "".join(letters.split()).upper()
    if len(compact) <= NAME_LETTERS:
        return compact
    digest = hashlib.blake2b(compact.encode(), digest_size=4).hexdigest()
    return f"{compact[:16]}-{digest}"


def parse_sequence(
    letters: str,
    *,
    name: str | None = None,
    alphabet: Alphabet | str = Alphabet.AUTO,
    max_length: int = 200,
) -> Sequence:
    """One :class:`Sequence` from an HP string or an amino-acid sequence (named by
    :func:`sequence_name` unless ``name`` is given)."""
    name = name or sequence_name(letters)
    hp = to_hp(letters, alphabet=alphabet, max_length=max_length, where=name)
    return Sequence(name=name, hp=hp, source="".join(letters.split()).upper())


def file_stem(name: str) -> str:
    """``name`` made safe as a file name: every character but letters, digits, ``-_.`` -> ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def parse_fasta(
    text: str,
    *,
    alphabet: Alphabet | str = Alphabet.AUTO,
    max_length: int = 200,
    origin: str = "FASTA",
) -> list[Sequence]:
    """Every record of a FASTA text (``>id description`` then sequence lines).

    Raises:
        SequenceError: no record, sequence lines before the first header, an empty
            record, two records of the same (file-safe) name, or a bad letter (named
            with its line and column).
    """
    records: list[tuple[str, list[tuple[int, str]]]] = []
    stems: dict[str, tuple[str, int]] = {}  # file stem -> (record name, header line)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            name = line[1:].split()[0] if line[1:].split() else f"record{len(records) + 1}"
            seen = stems.setdefault(file_stem(name), (name, lineno))
            if seen[1] != lineno:
                raise SequenceError(
                    f"{origin}: line {lineno}: record {name!r} has the same output name as "
                    f"record {seen[0]!r} (line {seen[1]}); each record needs its own name"
                )
            records.append((name, []))
            continue
        if not records:
            raise SequenceError(f"{origin}: line {lineno}: sequence before the first '>' header")
        records[-1][1].append((lineno, line))
    if not records:
        raise SequenceError(f"{origin}: no FASTA record (a record starts with '>')")
    out = []
    for name, lines in records:
        if not lines:
            raise SequenceError(f"{origin}: record {name!r} has no sequence")
        letters = "".join(seq for _, seq in lines).rstrip("*")
        try:
            out.append(parse_sequence(letters, name=name, alphabet=alphabet, max_length=max_length))
        except SequenceError as err:
            raise SequenceError(f"{origin}: {_locate(err, lines)}") from err
    return out


def _locate(err: SequenceError, lines: list[tuple[int, str]]) -> str:
    """Add the FASTA line and column to a 'position k' message."""
    msg = str(err)
    marker = "position "
    if marker not in msg:
        return msg
    try:
        pos = int(msg.split(marker, 1)[1].split(":", 1)[0])
    except ValueError:
        return msg
    seen = 0
    for lineno, seq in lines:
        if pos <= seen + len(seq):
            return f"{msg} (line {lineno}, column {pos - seen})"
        seen += len(seq)
    return msg


def read_fasta(
    path: str | Path, *, alphabet: Alphabet | str = Alphabet.AUTO, max_length: int = 200
) -> list[Sequence]:
    """:func:`parse_fasta` of a file.

    Raises:
        SequenceError: the file cannot be read or holds a bad record.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise SequenceError(f"{p}: cannot read the FASTA file: {err}") from err
    return parse_fasta(text, alphabet=alphabet, max_length=max_length, origin=str(p))
