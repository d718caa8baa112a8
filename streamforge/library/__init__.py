"""Services: what the API, the pages, the CLI and the job actors all call.

Services take what they need (a session, storage, settings) as arguments and never touch
the request or the app.
"""
