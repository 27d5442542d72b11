"""`python -m brainstorm.cli`: the same as the `brainstorm` console script."""

from brainstorm.cli import main

if __name__ == "__main__":
    main(prog_name="brainstorm")
