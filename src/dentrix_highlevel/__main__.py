from dentrix_highlevel.cli import main

main()
