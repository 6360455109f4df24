# say MESSAGE: print a line on the console and on the first serial port (once if they are the same).
say() {
    echo "$*" > /dev/console
    if ! grep -qw ttyS0 /sys/class/tty/console/active 2>/dev/null; then
        echo "$*" > /dev/ttyS0 2>/dev/null || true
    fi
}
