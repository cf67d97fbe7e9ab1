"""The service layer: the only place that joins the ORM, metric sources, the
engine and drivers, and writes events. Views, tasks and commands call it."""
