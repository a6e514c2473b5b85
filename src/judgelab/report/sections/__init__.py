"""The report's sections, one module each; ``judgelab.report.build`` puts them in order."""
