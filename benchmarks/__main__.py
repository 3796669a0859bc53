from benchmarks.ingestion import main

main()

from benchmarks.digest import main as digest_main  # noqa: E402

digest_main([])  # the digest benchmark at its own defaults; `python -m benchmarks.digest -h` for options
