"""Reports, pure functions of the store: aggregation into cells (aggregate), statistics by user and
seed (statistics), tables and summaries in Markdown and LaTeX (render), and figures."""
