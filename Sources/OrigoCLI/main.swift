#if canImport(Glibc)
import Glibc
#endif

// All logic lives in Command; main only hands over argv and the exit status.
exit(Command.run(Array(CommandLine.arguments.dropFirst())))
