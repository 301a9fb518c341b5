"""Names of result tables and report files, in a module that loads nothing else: the batch's
stage checks name them on every run without importing the code that writes them."""

SRCC_TABLE = "srcc"
SEARCH_TABLE = "search_result"
REPORT_HTML, SUMMARY_JSON = "report.html", "summary.json"
