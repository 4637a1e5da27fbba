import Testing

@testable import CountersignServer

/// The bounds that keep one caller from running the service out of files or memory.
@Suite struct ConnectionLimitsTests {
    @Test func eachCallerHasItsShareAndAllShareTheTotal() {
        let limits = ConnectionLimits(perCaller: 2, total: 3)
        #expect(limits.admit(1001) && limits.admit(1001))
        #expect(!limits.admit(1001), "a caller past its share is refused")
        #expect(limits.admit(1002), "another caller still gets in")
        #expect(!limits.admit(1003), "past the total nobody does")
        limits.release(1001)
        #expect(limits.admit(1003), "a closed connection frees its place")
        #expect(!limits.admit(nil))
    }

    @Test func bodiesShareOneBudget() {
        let limits = ConnectionLimits(bodyBudget: 100)
        #expect(limits.reserve(60))
        #expect(!limits.reserve(41), "past the budget a body is refused (503)")
        #expect(limits.reserve(40))
        limits.unreserve(60)
        #expect(limits.reserve(60), "what a finished request held is given back")
    }
}
