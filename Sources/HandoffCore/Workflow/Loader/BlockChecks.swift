import Foundation
import Yams

// Blocks: their headers, and the calls that run them.
extension DefinitionBuilder {
    // MARK: Blocks

    mutating func readBlockHeader(_ entry: Entry) -> [Node]? {
        let name = entry.key
        let context = "block '\(name)'"
        if !Self.isName(name) {
            error("block name '\(name)' may only use letters, digits, '-' and '_'", at: entry.keyLocation)
        }
        guard let blockEntries = entries(entry.value, what: context) else { return nil }
        checkFields(blockEntries, allowed: ["title", "params", "results", "steps"], in: context)
        let scope = Scope(block: name)
        var block = BlockDefinition(
            name: name, title: nil, params: [], results: [], steps: [], location: entry.keyLocation)
        block.title = field(blockEntries, "title").flatMap { string($0.value, what: "'title' of \(context)") }
        if let paramsEntry = field(blockEntries, "params") {
            block.params = readFields(paramsEntry.value, owner: "parameter", allowDefaultTemplate: true, scope: Scope())
        }
        if let resultsEntry = field(blockEntries, "results"),
            let results = entries(resultsEntry.value, what: "'results'")
        {
            for result in results {
                if let value = valueSource(result.value, what: "result '\(result.key)'", scope: scope, expectation: nil)
                {
                    block.results.append(NamedValue(name: result.key, value: value))
                }
            }
        }
        blocks[name] = block
        blockOrder.append(name)
        guard let stepsEntry = field(blockEntries, "steps") else {
            error("\(context) is missing 'steps'", at: entry.keyLocation)
            return nil
        }
        return list(stepsEntry.value, what: "'steps' of \(context)")
    }

    mutating func checkBlockCalls() {
        for (stepID, call, useLocation, argumentLocations) in blockCalls {
            guard let block = blocks[call.block] else {
                let known =
                    blockOrder.isEmpty ? "no blocks are defined" : "blocks are: " + blockOrder.joined(separator: ", ")
                error("step '\(stepID)' uses unknown block '\(call.block)' (\(known))", at: useLocation)
                referenceProblems += 1
                continue
            }
            if steps[stepID]?.placement.block == block.name {
                error("step '\(stepID)' runs block '\(block.name)' inside itself", at: useLocation)
                referenceProblems += 1
            }
            for argument in call.arguments {
                let argumentLocation = argumentLocations[argument.name] ?? useLocation
                guard let param = block.params.first(where: { $0.name == argument.name }) else {
                    error(
                        "step '\(stepID)' passes unknown parameter '\(argument.name)' to block '\(block.name)'",
                        at: argumentLocation)
                    continue
                }
                if case .literal(let value) = argument.value, case .failure(let problem) = param.check(value) {
                    error("argument '\(argument.name)' of step '\(stepID)' \(problem.reason)", at: argumentLocation)
                }
            }
            for param in block.params where param.required && param.defaultValue == nil {
                if !call.arguments.contains(where: { $0.name == param.name }) {
                    error(
                        "step '\(stepID)' does not give block '\(block.name)' its parameter '\(param.name)'",
                        at: useLocation)
                }
            }
        }
        // A block may run another block, but never itself through others.
        for name in blockOrder {
            var seen: Set<String> = [name]
            var frontier = calledBlocks(of: name)
            while let next = frontier.popLast() {
                if next == name, let block = blocks[name] {
                    error("block '\(name)' runs itself through other blocks; blocks can't recurse", at: block.location)
                    referenceProblems += 1
                    break
                }
                if seen.insert(next).inserted {
                    frontier.append(contentsOf: calledBlocks(of: next))
                }
            }
        }
    }

    func calledBlocks(of block: String) -> [String] {
        blockCalls.compactMap { steps[$0.step]?.placement.block == block ? $0.call.block : nil }
    }
}
