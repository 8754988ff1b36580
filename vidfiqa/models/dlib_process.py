"""dlib's 68-point predictor in a child process of its own.

dlib's Python calls keep Python's GIL for their whole run (~2 ms a predictor call; an eye
measurement makes seven), so a thread measuring eyes stalls the detection thread each time that
thread needs the GIL back, between its onnxruntime calls: RetinaFace on a 720p frame took 11 ms
alone and 27-37 ms beside such a thread (``benchmarks/eye_process``). In a child process dlib
takes its own core and the waiting thread releases the GIL. The child runs
:class:`~vidfiqa.models.dlib_models.DlibLandmarker` on the very frame (shared through a memory
file, not copied through the pipe), so its answers are the in-process ones bit for bit.

The child is ``python -m vidfiqa.models.dlib_process FD``, not a ``multiprocessing`` process:
those re-import the caller's main script, which fails in a script without a main guard.

Requests are answered one at a time in the order sent. An eye measure can be started
(:meth:`DlibProcessLandmarker.start_eye_openness`: its chips, a few hundred KB, go through the
pipe, so several can be in flight while the frame memory holds one frame) and read later, so
the child measures while its caller does other work; a caller reads answers up to its own and
keeps the earlier ones for their callers.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import mmap
import os
import pickle
import signal
import subprocess
import sys
import threading
import weakref
from typing import Any, BinaryIO

import numpy as np

from vidfiqa.types import Detections


def available() -> bool:
    """Whether this system can share frames with a child through a memory file (Linux)."""
    return hasattr(os, "memfd_create")


#: Size asked for the pipe that carries requests (Linux lets a process ask up to 1 MiB).
PIPE_BYTES = 1 << 20


class DlibProcessError(RuntimeError):
    """The child process failed or ended; one line."""


class _Answer:
    """The answer to one request, once read (requests are answered in the order sent)."""

    def __init__(self) -> None:
        self.read = False
        self.ok = False
        self.value: Any = None


class PendingEyes:
    """Eye openness the child is measuring (:meth:`DlibProcessLandmarker.start_eye_openness`)."""

    def __init__(self, owner: DlibProcessLandmarker, answer: _Answer) -> None:
        self._owner, self._answer = owner, answer

    def result(self) -> np.ndarray:
        """The eye aspect ratios, float32 ``(n,)``, waiting for the child if need be.

        Raises:
            DlibProcessError: the child failed or ended.
        """
        return self._owner._wait(self._answer)


class DlibProcessLandmarker:
    """:class:`~vidfiqa.models.dlib_models.DlibLandmarker` (68 points) whose :meth:`landmark`
    and :meth:`eye_openness` run in a child process (started here; it loads the model while the
    caller goes on, and ends when this object is collected or the interpreter exits). The child
    answers one request at a time, in the order sent; :meth:`start_eye_openness` sends one and
    returns at once, so the caller works while the child measures."""

    points = 68
    name = "dlib68"

    def __init__(self) -> None:
        if not available():
            raise DlibProcessError("sharing frames with a child process needs Linux (memfd_create)")
        self._fd = os.memfd_create("vidfiqa-frame")
        self._size = 0
        self._map: mmap.mmap | None = None
        #: One request written at a time (each one's answer queued in order first), one reader
        #: of answers at a time, and one frame in the shared memory until its answer is read.
        self._write_lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._frame_lock = threading.Lock()
        self._sent: collections.deque[_Answer] = collections.deque()
        self._child = subprocess.Popen(
            [sys.executable, "-m", __name__, str(self._fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(self._fd,),
        )
        # Room for a few chips' requests (~190 KB a face), so that sending one does not wait
        # for the child to finish the one before.
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._child.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._finalizer = weakref.finalize(self, _close, self._child, self._fd)

    def close(self) -> None:
        """End the child now (later calls fail)."""
        self._finalizer()

    def landmark(self, image: np.ndarray, detections: Detections) -> Detections:
        """:meth:`DlibLandmarker.landmark <vidfiqa.models.dlib_models.DlibLandmarker.landmark>`
        of ``detections`` on the RGB uint8 ``image`` ``(H, W, 3)``, in the child."""
        return self._on_frame("landmark", image, detections)

    def eye_openness(self, image: np.ndarray, landmarks: np.ndarray, *, refine: bool = False) -> np.ndarray:
        """:meth:`DlibLandmarker.eye_openness
        <vidfiqa.models.dlib_models.DlibLandmarker.eye_openness>` (float32 ``(n,)``) of the
        faces whose five points are ``landmarks`` (float ``(n, 5, 2)``), in the child."""
        return self._on_frame("eye_openness", image, np.asarray(landmarks), refine)

    def start_eye_openness(self, image: np.ndarray, landmarks: np.ndarray) -> PendingEyes:
        """:meth:`eye_openness` without ``refine``, started: the chips are cut here
        (:func:`~vidfiqa.models.dlib_models.eye_chips`) and sent, and the child measures them
        while the caller goes on; the same numbers."""
        from vidfiqa.models.dlib_models import eye_chips

        return PendingEyes(self, self._send(("eye_openness_of_chips", (eye_chips(image, landmarks),))))

    def _on_frame(self, method: str, image: np.ndarray, *args: Any) -> Any:
        image = np.ascontiguousarray(image, np.uint8)
        with self._frame_lock:
            with self._write_lock:  # no request of another thread between sharing and sending
                self._share(image)
                answer = self._send((method, (self._size, image.shape, *args)))
            return self._wait(answer)

    def _send(self, request: tuple[str, tuple]) -> _Answer:
        answer = _Answer()
        with self._write_lock:
            if not self._finalizer.alive:
                raise DlibProcessError("dlib's process was closed")
            # Queued before it is written: its answer may be read as soon as it is.
            self._sent.append(answer)
            try:
                pickle.dump(request, self._child.stdin, pickle.HIGHEST_PROTOCOL)
                self._child.stdin.flush()
            except BrokenPipeError:
                raise self._ended() from None
        return answer

    def _wait(self, answer: _Answer) -> Any:
        with self._read_lock:
            # Answers come in the order the requests were sent: those before this one are kept
            # for their own callers (or dropped, by callers that gave up on them).
            while not answer.read:
                try:
                    ok, value = pickle.load(self._child.stdout)
                except (EOFError, pickle.UnpicklingError, ValueError):
                    raise self._ended() from None
                first = self._sent.popleft()
                first.ok, first.value, first.read = ok, value, True
        if not answer.ok:
            raise DlibProcessError(f"dlib's process failed: {answer.value}")
        return answer.value

    def _ended(self) -> DlibProcessError:
        code = self._child.wait(timeout=5)
        return DlibProcessError(f"dlib's process ended unexpectedly (exit code {code})")

    def _share(self, image: np.ndarray) -> None:
        if image.nbytes > self._size:
            # Grown, never shrunk: a run's frames are all one size.
            if self._map is not None:
                self._map.close()
            self._size = image.nbytes
            os.ftruncate(self._fd, self._size)
            self._map = mmap.mmap(self._fd, self._size)
        np.frombuffer(self._map, np.uint8, image.nbytes)[:] = image.reshape(-1)


def _close(child: subprocess.Popen, fd: int) -> None:
    # Killed rather than waited for: it holds nothing worth keeping, and a child still loading
    # its model would hold up whoever drops the last reference for a second or two.
    child.kill()
    child.wait()
    with contextlib.suppress(OSError):  # a request left half-sent to a dead child
        child.stdin.close()
    child.stdout.close()
    os.close(fd)


def _serve(fd: int, requests: BinaryIO, answers: BinaryIO) -> None:
    """The child's loop: answer each pickled ``(method, args)`` from ``requests`` with a pickled
    ``(ok, value or error line)`` on ``answers``, until ``requests`` ends. The methods that take
    a frame find it in the memory file ``fd``; their ``args`` start with its size and shape."""
    import cv2

    from vidfiqa.models.dlib_models import DlibLandmarker

    cv2.setNumThreads(1)  # one core: the parent's threads have the other
    model = DlibLandmarker(points=68)
    size, shared = 0, None
    while True:
        try:
            method, args = pickle.load(requests)
        except EOFError:
            return
        try:
            if method in _ON_FRAME:
                new_size, shape, *args = args
                if new_size != size:
                    if shared is not None:
                        shared.close()
                    size, shared = new_size, mmap.mmap(fd, new_size)
                answer = (True, _frame_answer(model, shared, shape, method, args))
            elif method == "eye_openness_of_chips":
                answer = (True, model.eye_openness_of_chips(*args))
            else:
                answer = (False, f"unknown request {method!r}")
        except Exception as error:  # noqa: BLE001 - sent back to the parent as its one line
            answer = (False, f"{type(error).__name__}: {error}")
        try:
            pickle.dump(answer, answers, pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:  # the parent went away mid-call (interrupted): nothing to say
            return


_ON_FRAME = ("landmark", "eye_openness")


def _frame_answer(model: Any, shared: mmap.mmap, shape: tuple[int, ...], method: str, args: list) -> Any:
    # The frame is a view of the shared memory, released on return so that it can be remapped.
    image = np.frombuffer(shared, np.uint8, int(np.prod(shape))).reshape(shape)
    if method == "landmark":
        return model.landmark(image, *args)
    landmarks, refine = args
    return model.eye_openness(image, landmarks, refine=refine)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the parent handles it and ends this process (a
    # parent that is gone closes the pipe, which ends the loop), rather than each process
    # printing its own interruption.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers go out on a copy of stdout; stdout itself becomes stderr, so that nothing a
    # library prints can fall into the answers.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(int(sys.argv[1]), sys.stdin.buffer, answers)
