namespace KpuEdge.TestSupport.Tests;

/// <summary>A data root of a test's own, removed with everything the servers wrote in it.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("kpu-services-test-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
