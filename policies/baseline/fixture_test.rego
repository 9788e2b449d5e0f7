package sentinel.baseline.fixture_test

# judged is the fixture flow uuid (policies/baseline/testdata/flows.jsonl,
# measured by the engine) after its client's learning period, with the
# baseline facts a test states: what the windows would say after minutes
# of traffic, which one flow cannot produce.
judged(uuid, facts) := object.union(data.baseline.testdata[uuid], {"sentinel": {"baseline": object.union({"learning": false}, facts)}})

# learning is the same fixture while the client still learns.
learning(uuid, facts) := object.union(judged(uuid, facts), {"sentinel": {"baseline": {"learning": true}}})
