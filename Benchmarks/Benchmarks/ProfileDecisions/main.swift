import BenchmarkSupport
// Evaluates a fall-through envelope against a generated 200-rule policy N times (default 200,000).
// Usage: ProfileDecisions [iterations]
import CountersignCore
import CountersignPolicy
import Foundation

let (policy, mix) = generatedPolicy()
let envelope = mix[6].0  // the fall-through: "unknown" tool, visits every candidate rule
let iterations = CommandLine.arguments.dropFirst().lazy.compactMap { Int($0) }.first ?? 200_000
let start = DispatchTime.now().uptimeNanoseconds
var allowed = 0
for _ in 0..<iterations where policy.evaluate(envelope).decision == .allow { allowed += 1 }
let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
print("\(policy.evaluate(envelope).ruleID): \(String(format: "%.0f", elapsed)) ns/decision (\(allowed))")
