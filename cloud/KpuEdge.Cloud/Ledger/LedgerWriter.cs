using System.Threading.Channels;
using KpuEdge.Cloud.Transparency;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ledger;

/// <summary>What one caller's batch got from a group commit.</summary>
/// <param name="LogEnd">The log size the group commit left behind; this node's tree holds at least that many entries.</param>
public sealed record BatchResult(
    IReadOnlyList<long> Positions, IReadOnlyList<long> SubmissionLogIndexes, IReadOnlyList<long> RevocationLogIndexes,
    IReadOnlySet<int> Conflicts, long LogEnd)
{
    /// <summary>Log indexes of the batch's PPK statements; -1 for one the ledger held already (its index in <see cref="StatementConflicts"/>).</summary>
    public IReadOnlyList<long> StatementLogIndexes { get; init; } = [];
    public IReadOnlySet<int> StatementConflicts { get; init; } = new HashSet<int>();
}

/// <summary>
/// A node's group commit: every batch handed in while a transaction is under way is written together in the next one
/// (up to <see cref="CloudOptions.LedgerBatchSize"/> forms), so a node pays one durable commit for hundreds of forms
/// arriving from its device grains, revocations and refusals. After the commit the node's tree takes in the log
/// entries, and then each caller learns where its part went. A failed commit fails every batch in it: nothing in it
/// was written, nothing may be acknowledged.
/// </summary>
public sealed class LedgerWriter : IAsyncDisposable
{
    private sealed record Pending(LedgerBatch Batch, TaskCompletionSource<BatchResult> Done);

    private readonly ILedgerWriter _ledger;
    private readonly TransparencyLog _log;
    private readonly int _maxForms;
    private readonly ILogger<LedgerWriter> _logger;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;

    public LedgerWriter(ILedgerWriter ledger, TransparencyLog log, IOptions<CloudOptions> options, ILogger<LedgerWriter> logger)
    {
        _ledger = ledger;
        _log = log;
        _maxForms = Math.Max(1, options.Value.LedgerBatchSize);
        _logger = logger;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Transactions committed and forms written, since start (the benchmark's ledger figures).</summary>
    public long Commits => Interlocked.Read(ref _commits);
    public long FormsWritten => Interlocked.Read(ref _forms);
    private long _commits, _forms;

    /// <summary>Writes <paramref name="batch"/> in the node's next group commit; completes once it is durable.</summary>
    public Task<BatchResult> AppendAsync(LedgerBatch batch)
    {
        var pending = new Pending(batch, new TaskCompletionSource<BatchResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending)) throw new ObjectDisposedException(nameof(LedgerWriter), "The node is stopping: nothing more is written.");
        return pending.Done.Task;
    }

    private async Task LoopAsync()
    {
        var group = new List<Pending>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync(_stopping.Token))
            {
                group.Clear();
                int forms = 0;
                while (forms < _maxForms && _queue.Reader.TryRead(out var next))
                {
                    group.Add(next);
                    forms += next.Batch.Accepted.Count;
                }
                await CommitAsync(group);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { }
        while (_queue.Reader.TryRead(out var left))
            left.Done.TrySetException(new ObjectDisposedException(nameof(LedgerWriter), "The node stopped before this was written."));
    }

    private async Task CommitAsync(List<Pending> group)
    {
        var merged = new LedgerBatch
        {
            Accepted = group.SelectMany(p => p.Batch.Accepted).ToList(),
            Rejections = group.SelectMany(p => p.Batch.Rejections).ToList(),
            Events = group.SelectMany(p => p.Batch.Events).ToList(),
            Revocations = group.SelectMany(p => p.Batch.Revocations).ToList(),
            Statements = group.SelectMany(p => p.Batch.Statements).ToList(),
        };
        LedgerCommit commit;
        try
        {
            commit = await _ledger.AppendAsync(merged);
            Interlocked.Increment(ref _commits);
            Interlocked.Add(ref _forms, merged.Accepted.Count - commit.Conflicts.Count);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Ledger commit of {Forms} forms ({Batches} batches) failed; none of it is acknowledged", merged.Accepted.Count, group.Count);
            foreach (var p in group) p.Done.TrySetException(e);
            return;
        }
        try
        {
            await _log.FollowAsync(commit);
        }
        catch (Exception e)
        {
            // Durable, but this node cannot prove it yet: the callers fail; the next catch-up reads the entries from the ledger.
            _logger.LogError(e, "The log could not take in commit at {First}", commit.FirstLogIndex);
            foreach (var p in group) p.Done.TrySetException(e);
            return;
        }
        int form = 0, revocation = 0, statement = 0;
        foreach (var p in group)
        {
            int forms = p.Batch.Accepted.Count, revocations = p.Batch.Revocations.Count, statements = p.Batch.Statements.Count;
            var conflicts = new HashSet<int>();
            for (int i = 0; i < forms; i++)
                if (commit.Conflicts.Contains(form + i)) conflicts.Add(i);
            var statementConflicts = new HashSet<int>();
            for (int i = 0; i < statements; i++)
                if (commit.StatementConflicts.Contains(statement + i)) statementConflicts.Add(i);
            p.Done.TrySetResult(new BatchResult(Slice(commit.Positions, form, forms), Slice(commit.SubmissionLogIndexes, form, forms),
                Slice(commit.RevocationLogIndexes, revocation, revocations), conflicts, commit.LogEnd)
            {
                StatementLogIndexes = Slice(commit.StatementLogIndexes, statement, statements),
                StatementConflicts = statementConflicts,
            });
            form += forms;
            revocation += revocations;
            statement += statements;
        }
    }

    /// <summary>One caller's part of the group's results, read by index (a group holds a thousand single-form batches).</summary>
    private static long[] Slice(IReadOnlyList<long> all, int start, int count)
    {
        var part = new long[count];
        for (int i = 0; i < count; i++) part[i] = all[start + i];
        return part;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(30)); }
        catch (TimeoutException) { await _stopping.CancelAsync(); }
        _stopping.Dispose();
    }
}
