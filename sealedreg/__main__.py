from sealedreg.cli import main

main()
