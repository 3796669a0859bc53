from benchmarks.ingestion import main

main()
