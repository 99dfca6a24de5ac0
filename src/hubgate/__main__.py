from hubgate.cli import main

main()
