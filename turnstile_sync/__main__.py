"""``python -m turnstile_sync``: the same entry point as the console script."""

from turnstile_sync.cli import main

if __name__ == "__main__":
    main()
