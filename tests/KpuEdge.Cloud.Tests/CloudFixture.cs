using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Simulator;

namespace KpuEdge.Cloud.Tests;

/// <summary>A real cloud (Orleans silo, MQTTnet broker on loopback, SQLite ledger, HTTP API) in a temp directory.</summary>
public sealed class CloudFixture : IAsyncLifetime
{
    public static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    public static readonly ElectionDefinition Election = ElectionDefinition.Default;

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"kpu-test-{Guid.NewGuid():N}");
    public InProcessCloud Cloud { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cloud = await InProcessCloud.StartAsync(DataDirectory, Tree, Election);
        Http = new HttpClient { BaseAddress = Cloud.ApiBase };
    }

    /// <summary>Stops the host and starts a new one on the same ledger and registry.</summary>
    public async Task RestartAsync()
    {
        Http.Dispose();
        await Cloud.DisposeAsync();
        Cloud = await InProcessCloud.StartAsync(DataDirectory, Tree, Election);
        Http = new HttpClient { BaseAddress = Cloud.ApiBase };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Cloud.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); }
        catch (IOException) { /* a file still open on the way down: the temp directory is cleaned by the OS */ }
    }
}
