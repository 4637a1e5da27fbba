import CountersignCLI

/// The executable only starts the CLI; every command lives in CountersignCLI.
@main
struct CountersignMain {
    static func main() async {
        await CountersignCommand.main()
    }
}
