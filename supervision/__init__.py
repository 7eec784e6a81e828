"""Electronic supervision (电子监察, R10 and R13).

- `timeline`: a case's steps from the message log, payment notices and deliveries; `access` says
  who may see a case;
- `calendar` and `deadlines`: working days and the pure deadline engine (injectable clock);
  `config` reads `config/supervision.yaml`; `check` is the scheduled job that records steps,
  marks overdue ones and publishes `supervision.warning` / `supervision.escalation` once each;
- `feedback`: satisfaction (满意度评价) and complaints (投诉);
- `statistics` and `metrics`: performance per service and per department system, through the API
  and as Prometheus metrics;
- `console`: helpers of the supervisors' pages (charts, languages); the pages are
  `routes/supervision_console.py` with the templates in `supervision/templates/supervision/`.
"""
