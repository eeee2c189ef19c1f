using KpuEdge.Edge.Delivery;

namespace KpuEdge.Edge.Tests;

/// <summary>What a PPK station keeps of its TPS devices' health reports until the cloud's broker has them.</summary>
public sealed class OutboxRelayedHealthTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kpu-relayed-health-").FullName;
    private string Path_ => Path.Combine(_dir, Outbox.FileName);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Keeps_each_devices_newest_routine_reports_and_every_event_events_first_across_a_restart()
    {
        using (var outbox = new Outbox(Path_))
        {
            for (int i = 0; i < Outbox.MaxRoutineHealthReports + 10; i++) outbox.AddRelayedHealth("dev-a", [1, (byte)i], urgent: false);
            outbox.AddRelayedHealth("dev-a", [9, 9], urgent: true);
            for (int i = 0; i < 3; i++) outbox.AddRelayedHealth("dev-b", [2, (byte)i], urgent: false);
        }
        using var reopened = new Outbox(Path_);
        Assert.Equal(Outbox.MaxRoutineHealthReports + 1 + 3, reopened.RelayedHealthWaiting);
        var next = reopened.RelayedHealthToSend(2);
        Assert.Equal("dev-a", next[0].Device);
        Assert.Equal([9, 9], next[0].Wire);      // the event first
        Assert.Equal([1, 10], next[1].Wire);     // then the oldest kept: the first 10 gave way
        reopened.MarkRelayedHealthDelivered(next[0].Id);
        Assert.Equal(Outbox.MaxRoutineHealthReports + 3, reopened.RelayedHealthWaiting);
        Assert.Equal(3, reopened.RelayedHealthToSend(1000).Count(r => r.Device == "dev-b"));
    }
}
