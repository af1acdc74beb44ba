from thermcli.cli.main import main

main()
