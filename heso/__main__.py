from heso.cli import main

main()
