"""What the static scan (:mod:`course.intake.scan`) looks for: names, modules and strings a
submission has no reason to use, each with the reason a flag gives."""

# modules whose attributes a submission has no reason to assign
CALLS = {
    "set_custom_exc": "installs an exception handler (set_custom_exc)",
    "showtraceback": "touches showtraceback",
    "excepthook": "changes sys.excepthook",
    "reload": "reloads a module (importlib.reload)",
    "_exit": "exits the process (os._exit)",
    "kill": "kills a process (os.kill)",
    "killpg": "kills a process group (os.killpg)",
    "abort": "aborts the process (os.abort)",
    "fork": "forks (os.fork)",
    "system": "runs a shell command (os.system)",
    "popen": "runs a shell command (os.popen)",
    "setattr": None,  # decided by the target, below
    "delattr": None,
    "__import__": "imports dynamically (__import__)",
    "exec": "runs dynamic code (exec)",
    "eval": "runs dynamic code (eval)",
    "compile": "compiles dynamic code (compile)",
    "exit": "exits the kernel (exit/sys.exit)",
    "quit": "exits the kernel (quit)",
    "register_magic_function": "registers an IPython magic",
    "register": None,  # atexit.register, below
}
MODULES = {
    "subprocess": "uses subprocess",
    "ctypes": "uses ctypes",
    "multiprocessing": "uses multiprocessing",
    "pty": "uses pty",
    "socket": "uses sockets",
    "signal": "uses signal handlers",
    "atexit": "registers exit handlers (atexit)",
    "gc": "inspects the garbage collector (gc)",
    "inspect": "inspects frames (inspect)",
    "builtins": "touches builtins",
    "importlib": "uses importlib",
    "shutil": "uses shutil (file operations)",
    "glob": "lists files (glob)",
    "pathlib": "uses pathlib (file access)",
    "sqlite3": "uses sqlite3",
    "nbformat": "reads notebooks (nbformat)",
    "nbgrader": "imports nbgrader",
}
DUNDER_DEFS = {
    "__eq__": "defines __eq__ (fake equality)",
    "__ne__": "defines __ne__ (fake equality)",
    "__array__": "defines __array__ (array impostor)",
    "__array_ufunc__": "defines __array_ufunc__ (array impostor)",
    "__array_function__": "defines __array_function__ (array impostor)",
    "__array_interface__": "defines __array_interface__ (array impostor)",
    "__float__": "defines __float__ (number impostor)",
    "__bool__": "defines __bool__ (truth impostor)",
}
SUSPICIOUS_STRINGS = {
    "NBGRADER": "sniffs the grading environment (NBGRADER_*)",
    "gradebook": "names the gradebook",
    "source/": "names the instructor's source/ folder",
    "autograded": "names the autograded folder",
    "submitted/": "names other submissions (submitted/)",
    "/proc/": "reads /proc",
}
FILE_CALLS = {
    "open",
    "listdir",
    "scandir",
    "walk",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "remove",
    "unlink",
    "rmtree",
    "rename",
    "replace",
    "chdir",
}
# dotted names whose use is worth a look (sys.stdout and sys.stderr only when replaced)
DOTTED = {
    "sys.excepthook": "changes sys.excepthook",
    "sys.exit": "exits the kernel (exit/sys.exit)",
    "sys.modules": "touches sys.modules",
    "os.environ": "reads the environment (os.environ)",
    "os.getenv": "reads the environment (os.getenv)",
    "os.environ.get": "reads the environment (os.environ)",
    "sys.settrace": "installs a tracer (sys.settrace)",
    "sys.setprofile": "installs a profiler (sys.setprofile)",
    "sys._getframe": "inspects frames (sys._getframe)",
    "sys.stdout": "redirects sys.stdout",
    "sys.stderr": "redirects sys.stderr",
}
# attributes of IPython's shell a submission has no reason to touch
IPYTHON_ATTRS = {"set_custom_exc", "showtraceback", "excepthook", "_showtraceback",
                 "custom_exceptions", "events"}
INTROSPECTION_ATTRS = {"__class__", "__dict__", "__globals__", "__code__", "__builtins__",
                       "__subclasses__", "f_back", "f_globals"}
