using Xunit;

// The suite measures stalls, promptness and memory on a 2-core machine; tests running beside one another would
// turn those timings into noise. One at a time, the whole suite still takes well under two minutes.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
