"""Reading result files: leaderboard, rank correlations, significance tests, figures and the HTML report.

Nothing here imports torch: a machine that only reads results (a laptop, a CI job rendering the report) installs the
analysis dependencies and nothing else.
"""
