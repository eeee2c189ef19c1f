namespace KpuEdge.Vision.Camera;

/// <summary>Where page photos come from: the device camera, or files (tests, the simulator, a scanner's output).</summary>
public interface IFrameSource : IDisposable
{
    /// <summary>Takes the next photo as an encoded image (JPEG on the device camera).</summary>
    byte[] Capture();
}

/// <summary>Photos from files in order; a folder source takes every image file in it, sorted by name.</summary>
public sealed class FileFrameSource : IFrameSource
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"];
    private readonly Queue<string> _files;

    public FileFrameSource(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
                files.AddRange(Directory.EnumerateFiles(path).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal));
            else if (File.Exists(path)) files.Add(path);
            else throw new FileNotFoundException($"Berkas gambar tidak ditemukan: {path}", path);
        }
        _files = new Queue<string>(files);
    }

    public int Remaining => _files.Count;

    public byte[] Capture() =>
        _files.TryDequeue(out var file) ? File.ReadAllBytes(file) : throw new InvalidOperationException("No more images.");

    public void Dispose() { }
}
