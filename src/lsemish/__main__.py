import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while torch and triton load: no traceback for it
    print("python -m lsemish: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main(prog="python -m lsemish"))
