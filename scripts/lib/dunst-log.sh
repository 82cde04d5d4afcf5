#!/bin/sh
# dunst's script for every notification in the test session: one line per notification received,
# "appname<TAB>summary<TAB>body<TAB>urgency", in "$SAM_DUNST_DIR/received".
printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$5" >> "$SAM_DUNST_DIR/received"
