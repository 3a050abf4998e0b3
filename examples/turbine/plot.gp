# gnuplot -e "out='out'" examples/turbine/plot.gp  (reads the turbine_*.csv traces in out/)
# turbine_stable.csv, turbine_unstable.csv: time_s, speed_pu, fuel_cmd_pu, load_pu
# turbine_twin_*.csv: time_s, speed_pu, speed_est_pu, speed_2sigma_pu, load_pu,
#   load_est_pu, fuel_cmd_pu, safe, belief_age_s
set datafile separator ","
set grid
set lmargin at screen 0.09
set rmargin at screen 0.72
panel(top, bottom) = sprintf("set tmargin at screen %g; set bmargin at screen %g; set key at screen 0.79, screen %g left top Left reverse samplen 2", top, bottom, top)

# ---- the raw loop below and above the delay margin ----
set terminal pngcairo size 1100,700 font "sans,10" noenhanced
set output out."/turbine_margin.png"
set multiplot title "Gas-turbine governor loop (linear model): measurement latency below and above the delay margin"
set rmargin at screen 0.97
set tmargin at screen 0.90
set bmargin at screen 0.55
set key inside right bottom Left reverse samplen 2
set ylabel "speed deviation w - 1 (pu)"
plot out."/turbine_stable.csv" every ::1 using 1:($2-1) with lines lw 2 lc rgb "#2171b5" \
     title "latency 0.5 x margin: settles after the 0.1 pu load step at 1 s"
set tmargin at screen 0.45
set bmargin at screen 0.10
set key inside left top Left reverse samplen 2
set xlabel "time (s)"
set label 1 "the linear model has no fuel or speed limits: its deviation grows without bound" \
    at graph 0.02, graph 0.80 left front font "sans,9"
plot out."/turbine_unstable.csv" every ::1 using 1:($2-1) with lines lw 2 lc rgb "#cb181d" \
     title "latency 1.5 x margin: the oscillation grows"
unset label 1
unset multiplot
set rmargin at screen 0.72

# ---- the twin: estimate and command, and when the runtime holds the safe state ----
set terminal pngcairo size 1200,900 font "sans,10" noenhanced
set output out."/turbine_twin.png"
set multiplot title "Turbine twin: KF speed estimate, governor's fuel command, safe state on a stale belief"
unset xlabel
eval panel(0.92, 0.66)
set ylabel "speed (pu)"
set y2label "fuel command (pu)"
set y2tics
set ytics nomirror
set yrange [0.980:1.012]
set y2range [0.3:1.15]
set label 1 "sensor latency 0.5 x the delay margin: the governor closes the loop on the estimate" \
    at graph 0.01, graph 0.06 left front font "sans,9"
plot out."/turbine_twin_stable.csv" every ::1 using 1:($3-$4):($3+$4) with filledcurves \
         fs transparent solid 0.7 noborder lc rgb "#c6dbef" title "speed estimate +-2 sigma", \
     "" every ::1 using 1:2 with lines lw 2 lc rgb "black" title "speed (truth)", \
     "" every ::1 using 1:3 with lines lc rgb "#2171b5" title "speed estimate", \
     "" every ::1 using 1:7 axes x1y2 with lines lw 1.5 lc rgb "#d94801" title "fuel command (right axis)"
unset label 1

eval panel(0.60, 0.34)
set yrange [0.88:1.01]
set y2range [0.95:1.6]
set label 1 "sensor latency 1.5 x the delay margin: the belief is always older than tau_max,\nthe dispatcher holds the safe fuel schedule (1.0 pu)" \
    at graph 0.35, graph 0.90 left front font "sans,9"
plot out."/turbine_twin_late.csv" every ::1 using 1:2 with lines lw 2 lc rgb "black" title "speed (truth)", \
     "" every ::1 using 1:7 axes x1y2 with lines lw 1.5 lc rgb "#d94801" title "fuel command (right axis)"
unset label 1

eval panel(0.28, 0.08)
set xlabel "time (s)"
set ylabel "dispatcher"
unset y2tics
unset y2label
set ytics ("normal" 0, "safe state" 1)
set yrange [-0.3:1.3]
plot out."/turbine_twin_late.csv" every ::1 using 1:8 with steps lw 2 lc rgb "#cb181d" \
         title "latency 1.5 x margin", \
     out."/turbine_twin_stable.csv" every ::1 using 1:($8-0.04) with steps lw 2 lc rgb "#2171b5" \
         title "latency 0.5 x margin"
unset multiplot
