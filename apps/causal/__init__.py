"""App 9: causal analysis of a market crash by a consensus of causal-discovery methods.

Pure logic (no Prefect): a seeded crash simulator with a known lagged graph
(:mod:`apps.causal.simulate`), input validation (:mod:`apps.causal.data`), five
discovery methods (:mod:`apps.causal.methods`), their pattern-5 consensus
(:mod:`apps.causal.consensus`, calibrated by :mod:`apps.causal.calibrate`),
do-interventions on the consensus graph (:mod:`apps.causal.intervene`) and reports.
"""
