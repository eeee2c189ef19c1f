// Each test class starts its own silo, broker and ledger; running them one after another keeps the
// two cores of the CI machine for the system under test.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
