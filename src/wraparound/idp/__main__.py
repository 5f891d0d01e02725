from wraparound.idp.server import main

main()
