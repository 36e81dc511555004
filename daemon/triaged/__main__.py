from triaged.cli import main

main()
