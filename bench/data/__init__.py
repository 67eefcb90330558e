"""Where a sample comes from: data cards and files (domains), the recipes that build samples
(movielens, tallrec_json), few-shot splits, prompts, and the audit of a domain's splits."""
