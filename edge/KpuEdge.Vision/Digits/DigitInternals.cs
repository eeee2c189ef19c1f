using System.Runtime.CompilerServices;

// The digit tests check internals: the managed SVM evaluation against OpenCV's own predict, the split's cells,
// the cache's atomic save and the replacement of a damaged entry.
[assembly: InternalsVisibleTo("KpuEdge.Vision.Tests")]
