"""Reports, pure functions of the store: aggregation into cells (aggregate), statistics by user and
seed (statistics), Table 1 and the summaries in Markdown and LaTeX (render), the paper's published
numbers (paper), the cell text all tables share (text), the cross-domain tables (cross_domain), and
figures."""
