"""Predictive member value (docs/value.md): BG/NBD for repeat purchases and Gamma-Gamma for
spend, fitted by maximum likelihood; per-member P(alive), expected purchases, expected order
value, CLV, expected next purchase date and the brand's value score.

  fit.py        log-likelihoods with gradients and the maximum-likelihood fits (numpy / scipy)
  predict.py    the purchase and spend models' predictions, vectorised over members
  summary.py    per-member purchase summaries (x, t_x, T, spend) in one GROUP BY, read as arrays
  columns.py    columns of numbers between SQL and numpy without a Python object per value
  score.py      predictions written back for every active member in set-based SQL
  report.py     a fit as text (the command and the admin)
  config.py     the SCRM_VALUE_* settings
  referral.py   the referral index hook (another app provides it; 1.0 when none does)
  segments.py   segment fields over the predictions

The services that write (fit, score, the nightly refresh) are in members.services.value.
"""
