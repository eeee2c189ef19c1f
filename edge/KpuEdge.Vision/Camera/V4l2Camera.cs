using Iot.Device.Media;

namespace KpuEdge.Vision.Camera;

/// <summary>
/// The device camera through V4L2 (<see cref="VideoDevice"/> from Iot.Device.Bindings), capturing JPEG stills at a
/// resolution where a page's digit boxes are ≥ 40 px tall. The hardware seam: tests use <see cref="FileFrameSource"/>.
/// </summary>
public sealed class V4l2Camera : IFrameSource
{
    private readonly VideoDevice _device;

    /// <param name="busId">The N of /dev/videoN.</param>
    public V4l2Camera(int busId = 0, int width = 2592, int height = 1944)
    {
        _device = VideoDevice.Create(new VideoConnectionSettings(busId, ((uint)width, (uint)height), VideoPixelFormat.JPEG));
    }

    public byte[] Capture() => _device.Capture();

    public void Dispose() => _device.Dispose();
}
