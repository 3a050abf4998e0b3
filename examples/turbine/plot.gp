# gnuplot -e "out='out'" examples/turbine/plot.gp  (reads the turbine_*.csv traces in out/)
set datafile separator ","
set terminal pngcairo size 1000,700 font "sans,10"
set grid
set output out."/turbine_margin.png"
set multiplot layout 2,1 title "Gas-turbine governor loop: measurement latency below and above the delay margin"
set ylabel "speed (pu)"
plot out."/turbine_stable.csv" every ::1 using 1:2 with lines lw 2 lc rgb "#2171b5" title "latency 0.5 x margin: settles"
set xlabel "time (s)"
plot out."/turbine_unstable.csv" every ::1 using 1:2 with lines lw 2 lc rgb "#cb181d" title "latency 1.5 x margin: grows"
unset multiplot
set output out."/turbine_twin.png"
set multiplot layout 2,1 title "Turbine twin: KF speed estimate, governor command, safe state on stale belief"
unset xlabel
set ylabel "speed (pu)"
set y2label "fuel command (pu)"
set y2tics
set y2range [-0.05:1.6]
plot out."/turbine_twin_stable.csv" every ::1 using 1:($3-$4):($3+$4) with filledcurves lc rgb "#c6dbef" title "estimate +-2 sigma", \
     "" every ::1 using 1:2 with lines lw 2 lc rgb "black" title "speed (truth), latency 0.5 x margin", \
     "" every ::1 using 1:3 with lines lc rgb "#2171b5" title "estimate", \
     "" every ::1 using 1:7 axes x1y2 with lines lc rgb "#d94801" title "fuel command"
set xlabel "time (s)"
plot out."/turbine_twin_late.csv" every ::1 using 1:2 with lines lw 2 lc rgb "black" title "speed (truth), latency 1.5 x margin", \
     "" every ::1 using 1:7 axes x1y2 with lines lc rgb "#d94801" title "fuel command (safe schedule)", \
     "" every ::1 using 1:8 axes x1y2 with steps lc rgb "#cb181d" title "safe state engaged (1)"
unset multiplot
