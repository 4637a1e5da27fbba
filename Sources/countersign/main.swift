import CountersignCLI

CountersignCommand.main()
