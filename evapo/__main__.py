from evapo.cli import main

main()
