from benchmarks.ingestion import main

main()

from benchmarks.digest import main as digest_main  # noqa: E402

digest_main([])  # the digest benchmark at its own defaults; `python -m benchmarks.digest -h` for options

from benchmarks.matching import main as matching_main  # noqa: E402

matching_main(["--quick"])  # a few minutes; `python -m benchmarks.matching` for the full run (1M stored posts)
