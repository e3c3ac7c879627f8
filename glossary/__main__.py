"""`python -m glossary ...`: the command line (the same commands as `flask --app glossary ...`)."""

from flask.cli import FlaskGroup

from glossary import create_app

cli = FlaskGroup(create_app=create_app, help="The glossary service's commands.")

if __name__ == "__main__":
    cli(prog_name="python -m glossary")
