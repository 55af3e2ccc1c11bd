print("origo")
