import CountersignCLI
import CountersignCore

/// The executable only starts the CLI; every command lives in CountersignCLI.
@main
struct CountersignMain {
    static func main() async {
        StateDirectory.restrictNewFiles()
        await CountersignCommand.main()
    }
}
