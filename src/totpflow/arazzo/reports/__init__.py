"""Renderings of a ``results.RunResult``; every function takes the run's ``Masker`` (``masker=``) and applies
it again before writing (see ``reports.masked``).

    reports.terminal     render_terminal(result, file=, color=, verbose=, masker=); format_terminal() -> str
    reports.json_report  to_json(result) -> dict / write_json(result, path)        (--json-output FILE)
    reports.junit        to_junit(result) -> Element / junit_text / write_junit    (--junit FILE)
    reports.har          to_har(result) -> dict / write_har(result, path)          (--har FILE)

Import the module you need: this package imports none of them, so loading one report (the terminal one needs
``rich``) never loads the others.
"""
